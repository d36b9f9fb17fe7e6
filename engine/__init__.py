"""engine"""

from streams.native import activate as _activate

_activate(__name__, __path__)
