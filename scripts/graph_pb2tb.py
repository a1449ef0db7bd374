"""`python -m scripts.graph_pb2tb` from the project root, as the codelab runs it; the code is inspector.codelab.graph_pb2tb."""

import sys

from inspector.codelab.graph_pb2tb import main

if __name__ == "__main__":
    sys.exit(main())
