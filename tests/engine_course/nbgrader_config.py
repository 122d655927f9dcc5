"""nbgrader configuration of the grading engine's test course (tests copy it per test)."""

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.Execute.timeout = 20
