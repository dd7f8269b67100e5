import inspect

import gluonparams as gp
from gluonparams import errors


def test_every_error_is_a_gluonparams_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and not issubclass(c, Warning)]
    assert len(classes) >= 7
    assert all(issubclass(c, gp.GluonParamsError) for c in classes)


def test_warnings_are_user_warnings_not_errors():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Warning)]
    assert classes == [gp.NameWarning]
    assert issubclass(gp.NameWarning, UserWarning)
    assert not issubclass(gp.NameWarning, gp.GluonParamsError)


def test_public_names_are_the_module_classes():
    assert gp.TieError is errors.TieError and gp.CheckpointError is errors.CheckpointError


def test_option_errors_name_the_value_and_the_allowed_ones():
    try:
        gp.select(None, mode='regex')
    except errors.OptionError as e:
        assert str(e) == "mode='regex' is not supported; use one of 'search', 'fullmatch', 'glob'"
    else:
        raise AssertionError('no error')
