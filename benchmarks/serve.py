"""Run the local server for the benchmarks: `python benchmarks/serve.py DATA_DIR PORT`."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    import uvicorn

    from runapi_server.app import create_app

    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    app = create_app(data_dir, public_url=f"http://127.0.0.1:{port}")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
