"""The engine's own tables in nbgrader's gradebook: one schema for the driver, which alone
writes them (:mod:`bngrade.driver.store`), and for the feedback page that ``nbgrader
generate_feedback`` renders, which reads them (:mod:`bngrade.worker.feedback_page`)."""

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text

META = MetaData()
RESULT = Table(
    "bngrade_result", META,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("input_hash", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("flags", Text, nullable=False),  # JSON list of {kind, notebook, detail}
    Column("detail", Text, nullable=False),  # JSON list of notebooks with their questions
    Column("graded_at", DateTime, nullable=False),
)
SETTING = Table("bngrade_setting", META, Column("name", String(64), primary_key=True),
                Column("value", Text, nullable=False))
