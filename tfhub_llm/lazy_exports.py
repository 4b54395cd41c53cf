"""Public names loaded on first use (PEP 562), so that importing a package does not load TensorFlow.

``tfhub-llm --help`` and the package's leaf modules (errors, training options, the CLI's parsers)
must not pay the seconds TensorFlow takes to import; a package ``__init__`` lists where each public
name lives and imports that module when the name is first read.
"""

import importlib
import importlib.abc
import importlib.util
import sys


def lazy_exports(package_name, modules):
    """``(__getattr__, __dir__)`` for the package ``package_name`` whose public names live in ``modules``.

    ``modules`` maps each module (``"tfhub_llm.layers.hub_layers"``) to the names it provides.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        _import_keras_registrations()  # those that waited for this import to finish
        setattr(sys.modules[package_name], name, value)  # read once: later reads skip __getattr__
        return value

    def __dir__():
        return sorted({*where, *vars(sys.modules[package_name])})

    return __getattr__, __dir__


def import_with_keras(modules):
    """Imports ``modules`` as soon as ``keras`` is imported (at once if it already is).

    Keras finds a class named in a ``.keras`` file only once the module that registers it has run, so
    ``import tfhub_llm`` followed by ``keras.models.load_model(...)`` must find the package's classes
    without any of its names having been read. When ``keras`` is first imported by one of these very
    modules, the imports wait for it to finish: the next public name read runs them.
    """
    _KERAS_REGISTRATIONS.extend(modules)
    if "keras" in sys.modules:
        _import_keras_registrations()
    else:
        sys.meta_path.insert(0, _AfterKerasLoads())


_KERAS_REGISTRATIONS = []  # the modules import_with_keras waits to import; emptied once imported


def _import_keras_registrations():
    """Imports the waiting modules, unless keras is not loaded yet or a module of the package is still
    executing (importing the others then could meet it half-initialized)."""
    if not _KERAS_REGISTRATIONS or "keras" not in sys.modules:
        return
    packages = {module.split(".", 1)[0] + "." for module in _KERAS_REGISTRATIONS}
    if any(getattr(getattr(module, "__spec__", None), "_initializing", False)
           for name, module in list(sys.modules.items()) if name.startswith(tuple(packages))):
        return
    modules = list(_KERAS_REGISTRATIONS)
    _KERAS_REGISTRATIONS.clear()
    for module in modules:
        importlib.import_module(module)


class _AfterKerasLoads(importlib.abc.MetaPathFinder):
    """Finds ``keras`` with the other finders; once its module has executed, leaves and runs the imports.

    A mere look-up (``importlib.util.find_spec("keras")``, as TensorFlow does) gets a spec that is never
    executed, so the finder stays until a real import runs.
    """

    def __init__(self):
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders' answer
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def execute_then_import(module):
                execute(module)
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                _import_keras_registrations()

            spec.loader.exec_module = execute_then_import
        return spec


def load_all(package):
    """Imports every public name of ``package`` (e.g. so that Keras finds every serializable class)."""
    for name in package.__all__:
        getattr(package, name)
