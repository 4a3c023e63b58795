"""sys.path as Lambda arranges it, and the bootstrap's arguments."""

import unittest

from tests.python import support  # noqa: F401  (puts the runtime on sys.path)

from switchyard_runtime import paths


class PathsTest(unittest.TestCase):
    def test_layer_arguments(self):
        self.assertEqual(paths.parse_layer_args(
            ["--layer", "/a", "--layer=/b"]), ["/a", "/b"])
        self.assertEqual(paths.parse_layer_args([]), [])
        for bad in (["--layer"], ["--other"], ["x"]):
            with self.assertRaises(ValueError):
                paths.parse_layer_args(bad)

    def test_order(self):
        result = paths.build_sys_path(
            "/var/task", ["/l1", "/l2"], "/rt",
            ["/rt", "/usr/lib/python311.zip", "/usr/lib/python3.11",
             "/var/task"])
        self.assertEqual(result, [
            "/var/task",
            "/l1/python/lib/python3.11/site-packages", "/l1/python",
            "/l2/python/lib/python3.11/site-packages", "/l2/python",
            "/usr/lib/python311.zip", "/usr/lib/python3.11",
            "/rt",
        ])

    def test_layer_site_packages_follow_the_running_version(self):
        self.assertEqual(paths.layer_dirs("/opt", (3, 12)),
                         ["/opt/python/lib/python3.12/site-packages",
                          "/opt/python"])


if __name__ == "__main__":
    unittest.main()
