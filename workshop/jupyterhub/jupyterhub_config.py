"""JupyterHub for one class of this course: docs/instructors.md, route D. Run as root from the course checkout:

    sudo .venv/bin/jupyterhub -f workshop/jupyterhub/jupyterhub_config.py

- people log in with their account on this machine and its password (PAM), if their account is in the students'
  or the instructors' group (`python -m workshop.hub add-students ...`); instructors are the hub's admins;
- each person's server runs as their own account (LocalProcessSpawner: nbgrader's exchange names a submission after
  the account that submits it) with this checkout's .venv; students see nbgrader's student pieces and open at home
  (with their own copy of the lessons), instructors also Formgrader and open in the course folder;
- the proxy is configurable-http-proxy's Python implementation from the .venv: no Node.js, no TLS. Serve the hub
  behind a TLS-terminating reverse proxy (nginx, Caddy) for anything but localhost.

Paths and group names: workshop/hub.py's settings (COURSE_HUB_* environment variables override its defaults).
"""

from workshop import hub

c = get_config()  # noqa: F821  (injected by JupyterHub/traitlets)
s = hub.settings()

c.JupyterHub.bind_url = "http://:8000"  # every interface, port 8000: put a TLS reverse proxy in front
c.JupyterHub.db_url = f"sqlite:///{s.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(s.state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(hub.VENV_BIN / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(s.state / "jupyterhub-proxy.pid")

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {s.students, s.instructors}
c.PAMAuthenticator.admin_groups = {s.instructors}
c.LocalAuthenticator.create_system_users = False  # accounts come from workshop.hub add-students, never a login

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(hub.VENV_BIN / "python"), "-m", "workshop.hub", "singleuser"]
c.Spawner.default_url = "/lab"


def as_student_or_instructor(spawner) -> None:
    """Each server's room, exchange and venv (its environment) and the folder it opens in, by the person's group."""
    spawner.environment.update(hub.user_environment(spawner.user.name, s))
    spawner.notebook_dir = hub.notebook_dir(spawner.user.name, s)


c.Spawner.pre_spawn_hook = as_student_or_instructor
# A server imports torch and JupyterLab on a shared machine: give it time.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
