import sys

from genproto.cli.main import main

sys.exit(main())
