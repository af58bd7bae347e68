"""A deliberately broken genproto plugin: importing it raises."""

raise RuntimeError("genproto_broken is broken on purpose")
