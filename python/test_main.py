"""The wheel's launcher on machines its build is not for (scripts/ci/check-install.sh runs
this): it says which platforms it supports, in one line, and exits 2."""
import io
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pinguard.__main__ as launcher  # noqa: E402


class Unsupported(unittest.TestCase):
    def run_main(self):
        err = io.StringIO()
        with mock.patch.object(sys, "stderr", err), mock.patch.object(sys, "argv", ["pinguard", "--version"]):
            code = launcher.main()
        return code, err.getvalue()

    def test_another_machine_is_refused_with_the_supported_platforms(self):
        with mock.patch("platform.machine", return_value="aarch64"):
            code, err = self.run_main()
        self.assertEqual(code, 2)
        self.assertIn("x86-64 Linux with glibc 2.17 or newer", err)
        self.assertIn("this machine is aarch64", err)

    def test_another_system_is_refused(self):
        with mock.patch.object(sys, "platform", "darwin"):
            code, err = self.run_main()
        self.assertEqual(code, 2)
        self.assertIn("this is darwin", err)

    def test_an_old_glibc_is_refused(self):
        with mock.patch("os.confstr", return_value="glibc 2.12"):
            code, err = self.run_main()
        self.assertEqual(code, 2)
        self.assertIn("this system has glibc 2.12", err)

    def test_this_machine_is_supported(self):
        self.assertIsNone(launcher.unsupported())


if __name__ == "__main__":
    unittest.main()
