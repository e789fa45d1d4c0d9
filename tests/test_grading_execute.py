"""grading.execute's handshake with a kernel, against a scripted stand-in for a jupyter_client (no kernel): every
kernel is graded through `wait_until_ready`, and a reply it leaves behind would be read by the first cell's `run`."""

from __future__ import annotations

import queue

import pytest

from grading.execute import wait_until_ready


class ScriptedClient:
    """A kernel that answers its shell requests after `boot` polls, and whose IOPub subscription connects after
    `subscribe` polls (what it published before is lost, as with ZeroMQ's slow joiner)."""

    def __init__(self, boot: int, subscribe: int):
        self.boot, self.subscribe, self.polls, self.sent, self.answered = boot, subscribe, 0, [], 0
        self.shell: queue.Queue = queue.Queue()
        self.iopub: queue.Queue = queue.Queue()

    def kernel_info(self) -> str:
        self.sent.append(f"ki{len(self.sent)}")
        return self.sent[-1]

    def _tick(self) -> None:
        self.polls += 1
        if self.polls >= self.boot:  # the kernel is up: it answers what it was sent, in order
            while self.answered < len(self.sent):
                msg_id = self.sent[self.answered]
                self.answered += 1
                self.shell.put({"parent_header": {"msg_id": msg_id}, "msg_type": "kernel_info_reply"})
                if self.polls >= self.subscribe:
                    self.iopub.put({"parent_header": {"msg_id": msg_id}, "msg_type": "status"})

    def get_shell_msg(self, timeout: float) -> dict:
        self._tick()
        return self.shell.get_nowait()

    def get_iopub_msg(self, timeout: float) -> dict:
        return self.iopub.get_nowait()


@pytest.mark.parametrize("boot, subscribe", [(1, 1), (5, 1), (3, 9), (1, 20)])
def test_ready_means_answered_and_subscribed_with_no_reply_left_behind(boot, subscribe):
    kc = ScriptedClient(boot, subscribe)
    wait_until_ready(kc, timeout=30, alive=lambda: True)
    assert kc.polls >= subscribe, "ready before IOPub was connected: the first cell's output could be lost"
    assert kc.answered == len(kc.sent) and kc.shell.empty(), "a kernel_info reply left for `run` to read"


def test_a_kernel_that_dies_or_never_answers_is_an_error():
    with pytest.raises(RuntimeError, match="died"):
        wait_until_ready(ScriptedClient(10**9, 1), timeout=30, alive=lambda: False)
    with pytest.raises(RuntimeError, match="did not answer"):
        wait_until_ready(ScriptedClient(10**9, 1), timeout=0.2, alive=lambda: True)
