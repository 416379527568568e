"""GridLAB-D's own ERROR lines are counted and surfaced when a feeder session ends (they come with return code 0)."""
from __future__ import annotations

from vppfed.federates.feeder.session import GridlabdSession, error_summary

# as GridLAB-D 6.0.0 wrote them for a generated 3,000-house feeder whose power flow diverged
DIVERGED = ("ERROR    [2013-07-01 00:00:00 CDT] : Water heater line voltage for waterheater:30997 is too high, exceeds "
            "twice nominal voltage.\n"
            "WARNING  [2013-07-01 00:00:00 CDT] : a warning is not an error\n"
            "ERROR    [2013-07-01 00:03:00 CDT] : last error message was repeated 10614 times\n"
            "ERROR    [2013-07-01 00:04:00 CDT] : another error\n")


def test_error_summary_counts_repeats_and_keeps_the_first_message():
    assert error_summary(DIVERGED) == (10616, "Water heater line voltage for waterheater:30997 is too high, exceeds "
                                              "twice nominal voltage.")


def test_a_clean_log_or_parser_chatter_has_no_errors():
    assert error_summary("") == (0, None)
    assert error_summary("/tmp/x/bad.glm(5): expected ';' at end of property specification\n"
                         "WARNING  [INIT] : only a warning\n") == (0, None)


def test_closing_a_session_reads_the_errors_of_its_worker_log(tmp_path):
    glm = tmp_path / "m.glm"
    glm.write_text("clock { timezone PST+8PDT; starttime '2013-07-01 00:00:00'; stoptime '2013-07-01 01:00:00'; }\n")
    log = tmp_path / "worker.log"
    log.write_text(DIVERGED)
    session = GridlabdSession(glm, worker_log=log)
    assert session.errors == (0, None)
    session.close()
    assert session.errors[0] == 10616 and session.errors[1].startswith("Water heater line voltage")
    assert log.exists()   # a log the caller named is kept
