import sys

from deltajudge.cli import main

sys.exit(main())
