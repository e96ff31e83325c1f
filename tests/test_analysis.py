from vivier.analysis import analyze, query_terms


def test_elision_is_removed():
    assert analyze("l'éclairage") == analyze("éclairage")
    assert analyze("d'énergie") == analyze("énergie")
    assert analyze("qu'il") == analyze("il") or analyze("qu'il") == []


def test_accents_are_optional():
    assert analyze("déchets") == analyze("dechets")
    assert analyze("Énergie") == analyze("energie")


def test_singular_and_plural_share_a_term():
    assert analyze("capteur") == analyze("capteurs")
    assert analyze("cantine") == analyze("cantines")
    assert analyze("déchet") == analyze("déchets")


def test_stop_words_and_case():
    assert analyze("LA collecte DES déchets") == analyze("collecte déchets")
    assert analyze("le la les de du des et à") == []


def test_query_terms_are_distinct_and_capped():
    assert query_terms("capteur capteurs Capteurs déchets", 10) == ["capteur", "dechet"]
    assert len(query_terms(" ".join(f"mot{i}x" for i in range(100)), 48)) == 48
