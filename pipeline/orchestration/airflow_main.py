"""`python -m pipeline.orchestration.airflow_main ARGS`: Airflow's command line, ending without Python's teardown.

A process that has imported TensorFlow, Beam and TFX spends about 4 s after its work is done in
the interpreter's finalization (freeing every module and object one by one). For `airflow dags
test` (an in-process `mnist-pipeline run`) that is 4 s added to every run for nothing: the run
is recorded in Airflow's database and MLMD before Airflow returns. So this calls Airflow's own
entry point, flushes the output and the logging handlers, and leaves with Airflow's exit code
through `os._exit`.

For `airflow dags test` it first forks the task host (`task_host`), which imports TFX while Airflow
starts here, and runs the tasks; and it leaves out the set-up such a run never uses (`dags_test`).
"""
import logging
import os
import sys
import traceback


def main() -> None:
    if sys.argv[1:3] == ["dags", "test"]:
        from pipeline.orchestration import dags_test, task_host

        task_host.start()
        dags_test.leave_out_unused_setup()
    from airflow.__main__ import main as airflow_main

    code = 0
    try:
        airflow_main()
    except SystemExit as exit_:
        if isinstance(exit_.code, int):
            code = exit_.code
        elif exit_.code is not None:  # SystemExit("message"): Python prints it and exits 1
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:  # reported as Python would, then the same exit code
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
