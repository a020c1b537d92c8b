"""``make test`` uses pytest-xdist's workers, one per core, keeping a module's tests in one worker."""

from devtools.testrun import with_workers


def test_one_worker_per_core_with_modules_kept_together() -> None:
    assert with_workers(["tests/e2e"], {}, 2) == ["-n", "2", "--dist", "loadfile", "tests/e2e"]
    assert with_workers([], {}, 8) == ["-n", "2", "--dist", "loadfile"]  # this machine type: 2 cores


def test_the_caller_or_the_environment_decides() -> None:
    assert with_workers(["-n", "4"], {}, 2) == ["-n", "4"]
    assert with_workers(["-p", "no:xdist"], {}, 2) == ["-p", "no:xdist"]
    assert with_workers(["-p", "no:cacheprovider"], {}, 2) == [
        "-n",
        "2",
        "--dist",
        "loadfile",
        "-p",
        "no:cacheprovider",
    ]
    assert with_workers([], {"HUB_TEST_WORKERS": "1"}, 2) == []
    assert with_workers([], {"HUB_TEST_WORKERS": "3"}, 2) == ["-n", "3", "--dist", "loadfile"]
    assert with_workers([], {}, 1) == []
