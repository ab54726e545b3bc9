"""ftlab's dashboard.

    python app.py [--host 127.0.0.1] [--port 7860] [--db ftlab.duckdb] [--mode local] [--auth USER:PASSWORD]

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT set the defaults of --host / --port (a Hugging Face
Space sets them). The job scheduler runs in a thread of this process; jobs run as worker
subprocesses, one per device slot. `python app.py --help` lists every option (ftlab/ui/serve.py).
"""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio phones home otherwise

from ftlab.ui.serve import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
