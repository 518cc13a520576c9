"""TensorFlow's Python log in a task (components/tf_env.py): through the root logger's handlers at
each record's level, not TensorFlow's own stderr handler (which Airflow 3 shows as ERROR lines)."""
import logging
import subprocess
import sys
import textwrap

# A task process as the workers make it: TensorFlow imported before logging is set up, then the
# task's logging (Airflow's) on the root logger.
TASK = textwrap.dedent("""
    import logging, sys
    import tensorflow as tf
    from components import tf_env
    logging.basicConfig(stream=sys.stdout, format="root %(levelname)s %(name)s %(message)s", level=logging.INFO)
    tf_env.log_through_root()
    tf.get_logger().warning("a warning")
    tf.get_logger().error("a real error")
""")


def test_tensorflow_logs_reach_the_task_s_handlers_at_their_own_level_and_nothing_goes_to_stderr():
    out = subprocess.run([sys.executable, "-c", TASK], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "root WARNING tensorflow a warning" in out.stdout
    assert "root ERROR tensorflow a real error" in out.stdout  # a real error still shows as one
    assert "a warning" not in out.stderr and "a real error" not in out.stderr


def test_other_handlers_of_the_tensorflow_logger_are_kept():
    from components import tf_env

    logger = logging.getLogger("tensorflow")
    kept = logging.FileHandler("/dev/null")
    logger.addHandler(kept)
    try:
        tf_env.log_through_root()
        assert kept in logger.handlers
    finally:
        logger.removeHandler(kept)
        kept.close()


def test_beams_import_warning_about_crcmod_is_dropped_while_google_crc32c_serves_and_other_warnings_stay():
    script = textwrap.dedent("""
        import logging, sys
        logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")
        from components import tf_env
        tf_env.configure()
        import apache_beam.io.tfrecordio as tfrecordio
        print("checksum by", tfrecordio._default_crc32c_fn(b"x") and tfrecordio._default_crc32c_fn.fn.__module__)
        logging.warning("another warning")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "checksum by google_crc32c" in out.stdout  # what the warning says is missing is not needed
    assert "crcmod" not in out.stdout + out.stderr
    assert "WARNING another warning" in out.stdout
