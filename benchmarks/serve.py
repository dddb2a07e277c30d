"""Run the local server for the benchmarks: `python benchmarks/serve.py DATA_DIR PORT [WORKERS]`.

One worker: the app in this process. More: `runapi serve --workers N` (uvicorn worker
processes over the one SQLite database).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if workers > 1:
        command = ["serve", "--port", str(port), "--data-dir", str(data_dir)]
        command += ["--workers", str(workers), "--log-level", "warning"]
        os.execv(sys.executable, [sys.executable, "-m", "runapi_cli", *command])
    import uvicorn

    from runapi_server.app import create_app
    from runapi_server.heap import settle_for_serving

    app = create_app(data_dir, public_url=f"http://127.0.0.1:{port}")
    settle_for_serving()  # as `runapi serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
