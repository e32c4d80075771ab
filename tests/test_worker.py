"""A serving process's one-time preparation (gunicorn's post_worker_init)."""
import gc
import runpy
from pathlib import Path


def test_a_worker_parses_the_reference_files_then_freezes_what_it_holds(app):
    from fc_market.territory import loader
    from fc_market.web import prepare_worker
    try:
        prepare_worker()
        assert loader._load_all.cache_info().currsize == 1
        assert loader.load_outlines.cache_info().currsize == 1
        assert gc.isenabled() and gc.get_freeze_count() > len(loader.load_localities())
    finally:
        gc.unfreeze()


def test_gunicorn_prepares_each_worker():
    conf = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert "prepare_worker" in conf["post_worker_init"].__code__.co_names
