"""streams: the records, their codes and codecs, sources and the synthetic city.

Imports no other package of the project: every other package imports this one.
"""
