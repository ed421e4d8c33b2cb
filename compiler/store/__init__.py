"""The output store: ``out/`` on disk. Emit (``compiler/emit``) is pure — objects to file
contents; this package owns everything that touches the disk: the write plan and its lock
(``writer``), whole-directory commits (``swap``), ownership (``manifest``), atomic durable files
(``durable``), path safety (``paths``) and staleness (``check``)."""
