"""`python -m scripts.label_image` from the project root, as the codelab runs it; the code is inspector.codelab.label_image."""

import sys

from inspector.codelab.label_image import main

if __name__ == "__main__":
    sys.exit(main())
