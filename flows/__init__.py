"""The steps each DAG's tasks call, one module (or small package) per flow: orchestration only.

A step reads and writes the hub database through ``hub``, speaks to outside systems through
``connectors``, applies the rules of ``transforms`` and the gates of ``quality``. Imports run one way:
``dags → flows → connectors · transforms · quality → hub``.
"""
