"""Running a plan elsewhere: units of package × variant (`units`), Slurm jobs and CI workflows."""
