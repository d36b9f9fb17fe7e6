"""graph: the relationship graph (entity resolution, case linking, features, patterns)."""
from streams.native import activate as _activate

_activate(__name__, __path__)
