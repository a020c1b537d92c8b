"""The hub's receiver: the small HTTP service that takes what outside systems push (Qimen confirmations,
counts, stock changes), verifies it, stores it in the hub database's inbox before answering, and does
nothing else; the batch flows do the work (``hub receiver``, DESIGN §1). Nothing imports it."""
