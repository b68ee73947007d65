import sys

from smsc.entry import main

sys.exit(main())
