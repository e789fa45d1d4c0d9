"""nbgrader on the class's JupyterHub: the course and its exchange, for every user's server (the Assignments tab,
Formgrader) and for nbgrader run in a terminal there. workshop.hub puts this folder on each server's
JUPYTER_CONFIG_PATH; the course folder's own nbgrader_config.py, read after it from the folder nbgrader runs in,
adds the instructors' layout (solutions/ as source, labs/ as release)."""

import os

c = get_config()  # noqa: F821  (injected by nbgrader/traitlets)

c.CourseDirectory.course_id = "lora-first-principles"
# workshop.hub's setting (COURSE_HUB_EXCHANGE, default /srv/nbgrader/exchange), passed on by the hub to each server
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
# Collect only what each student handed in themselves, never following a link (workshop/exchange.py says why)
c.ExchangeFactory.collect = "workshop.exchange.OwnersOnlyCollect"
