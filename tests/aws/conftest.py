import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from tests_aws_helpers import reference  # noqa: E402,F401  (fixture)
