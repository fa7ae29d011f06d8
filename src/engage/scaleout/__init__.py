"""engage past one machine: the per-contact step in a stream processor.

- :mod:`engage.scaleout.keyed`: what a keyed task does per event and per timer, with no
  stream processor (tested without a JVM);
- :mod:`engage.scaleout.flink`: the PyFlink job (needs the ``engage[flink]`` extra and
  Java 11+; importing it imports pyflink);
- :mod:`engage.scaleout.command`: ``engage flink`` (checks for Java and PyFlink first).

docs/scaleout.md explains the job, how to submit it and how to size a cluster.
"""
