import pytest

from tfswa.stems import StemNameError, check_stem_name, check_stem_names


@pytest.mark.parametrize("name", ["vocals", "no_vocals", "accompaniment", "s0", "lead-guitar", "A" * 64])
def test_plain_stem_names_pass(name):
    assert check_stem_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "-x", "_x", "a b",
                                  "a.b", "é", "a\0", "A" * 65, 3, None])
def test_names_that_could_be_paths_or_odd_files_are_refused(name):
    with pytest.raises(StemNameError):
        check_stem_name(name)


def test_repeats_are_refused_also_when_they_differ_in_case():
    assert check_stem_names(["vocals", "drums"]) == ("vocals", "drums")
    for names in (["vocals", "vocals"], ["vocals", "Vocals"]):
        with pytest.raises(StemNameError, match="twice"):
            check_stem_names(names)
