"""Report Assistant: answers questions about a collection of reports, every statement cited.

`from assistant import Assistant` is the API; the heavy libraries load on first use, not at import.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Assistant", "Filters", "Settings", "load_settings", "__version__"]

if TYPE_CHECKING:
    from .core import Assistant
    from .models import Filters
    from .settings import Settings, load_settings


def __getattr__(name: str):
    if name == "Assistant":
        from .core import Assistant

        return Assistant
    if name == "Filters":
        from .models import Filters

        return Filters
    if name in ("Settings", "load_settings"):
        from . import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
