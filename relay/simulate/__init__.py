"""``relay simulate``: stand-in providers (Kie, TTAPI, AceData, Replicate) over real HTTP; see :mod:`.app`."""
