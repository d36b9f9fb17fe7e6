"""graph: the relationship graph (entity resolution, case linking, features, patterns)."""
from streams.native import activate

activate(__name__, __path__)
