"""The build engines: the only package that calls rattler_build (in process or in worker
processes), and the outside engines (conda-build, a rattler-build executable) behind one seam."""
