"""Importing cnngwp keeps the framework's start-up notices off standard error, and only those."""

import subprocess
import sys


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr


def test_importing_cnngwp_prints_no_framework_notices():
    assert _stderr("import cnngwp, keras; keras.ops.add(1.0, 1.0)") == ""


def test_other_messages_written_during_the_import_still_show():
    code = ("import os, sys\n"
            "class Loud:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'keras':\n"
            "            os.write(2, b'oneDNN custom operations are on (dropped)\\nreal problem (kept)\\n')\n"
            "        return None\n"
            "sys.meta_path.insert(0, Loud())\n"
            "import cnngwp\n")
    assert _stderr(code) == "real problem (kept)\n"
