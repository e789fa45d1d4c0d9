import sys

from labcheck import main

sys.exit(main())
