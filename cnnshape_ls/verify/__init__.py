"""Background verification: the static answer, checked by torch on the meta device, in a separate process."""
