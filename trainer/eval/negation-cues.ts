// Cues that make a mention negative or uncertain, and the words that end their scope.
// Modelled on the CheXpert labeler's three rule phases (uncertainty before negation, negation,
// uncertainty after negation); the cue lists are radfleet's own. All match lowercased text.

// Patterns that skip words go word by word: a word is a maximal run of letters, a separator a run of
// non-letters, so there is one way to split any text and matching stays linear (no catastrophic backtracking).

/** Double negatives that mean "possible": checked first, so "cannot be excluded" is uncertain, not negative. */
export const PRE_NEGATION_UNCERTAINTY_BEFORE =
  /\b(?:cannot|can ?not|can't|could not|not) (?:entirely |completely |definitely |totally )?(?:exclude|rule out)\b|\b(?:rule out|r\/o|evaluate for|evaluation for|assess for|question of|correlat(?:e|ion) (?:clinically )?for|to exclude)\b/;
// After the mention only the passive form hedges it; a list may sit between ("effusion or pneumonia
// cannot be excluded") but no verb of its own ("effusion is present, cannot exclude pneumonia").
export const PRE_NEGATION_UNCERTAINTY_AFTER =
  /^(?:[^.;a-z]*(?!(?:is|are|was|were|present|seen|noted)(?![a-z]))[a-z]+(?![a-z])){0,4}?[^.;a-z]*(?:(?:is|are|was|were|can|could|may)\s+)?(?:not|cannot|can ?not|can't)\s+(?:be\s+)?(?:entirely\s+|completely\s+|definitely\s+|totally\s+)?(?:excluded|ruled out)\b/;

/** Phrases with a negation word that do not deny the finding ("no change in the effusion"). */
export const PSEUDO_NEGATIONS =
  /\b(?:no (?:significant |definite |appreciable |interval |substantial )*(?:change|increase|decrease|worsening|improvement)|not (?:significantly |substantially )?changed|without (?:significant |interval )*change|not only|no longer (?:requires?))\b/g;

/** Negation cues before the mention (the nearest one counts). */
export const NEGATION_BEFORE =
  /\b(?:no|not|without|negative for|free of|absence of|absent|clear of|nor|neither|never|none|rather than|exclude[sd]?|ruled out)\b/g;

/**
 * Historical cues before the mention: the finding was there and is gone or is the past cause of what is
 * seen now (NegEx's and pyConText's "historical" and "resolved" triggers). They end where a negation
 * would ("history of pneumonia, now with consolidation" keeps the consolidation).
 */
export const HISTORICAL_BEFORE =
  /\b(?:resolution of|resolved|clearing of|cleared|removal of|removed|history of|h\/o|sequelae? of|(?:scar(?:ring)?|residua|residual changes|changes) (?:from|of|related to|due to|secondary to) (?:an? |the )?(?:old|prior|previous|remote|healed|past))\b/g;

/**
 * Words that end a preceding negation's reach: a new verb or "with" starts a new assertion
 * ("no effusion, with mild atelectasis"), and so does a comma followed by an article ("no effusion, a
 * small pneumothorax is present"): items of a negated list rarely carry one. A list joined by commas,
 * "or" and "and" stays in scope.
 */
export const NEGATION_SCOPE_BREAK =
  /\b(?:is|are|was|were|has|have|had|shows?|demonstrates?|with|there|again|now|new)\b|,\s*(?:a|an|the)\b/;

/** Negation after the mention ("pneumothorax is not seen", "effusion has resolved"). */
export const NEGATION_AFTER =
  /^(?:[^.;a-z]*[a-z]+(?![a-z])){0,6}?[^.;a-z]*(?:(?:is|are|has|have|was|were)\s+)?(?:been\s+)?(?:(?:not|no longer)\s+(?:be\s+)?(?:(?:definitely|clearly|well|convincingly|confidently)\s+)?(?:seen|identified|present|visualized|demonstrated|appreciated|evident|noted|visible|detected|apparent|identifiable)|(?:resolved|absent|removed|cleared|gone))\b/;

/**
 * Hedges before the mention anywhere in its clause, in two grades as pyConText separates probable from
 * possible existence. Possible: a modal or an open question ("may represent", "could be", "possibly",
 * "differential includes"). Probable: the reader leans to the finding ("likely", "suggestive of",
 * "concerning for", "represents"). Both make the mention uncertain; the grade is kept on the mention.
 */
export const POSSIBLE_BEFORE =
  /\b(?:may|might|could|possibl[ey]|question(?:able|ed)?|equivocal|indeterminate|uncertain|unclear|perhaps|differential|consider(?:ed)?|cannot be excluded|not excluded)\b|\?/;
export const PROBABLE_BEFORE =
  /\b(?:probabl[ey]|likely|suspect(?:ed)?|suspicious|suspicion|concern(?:ing)?|suggest(?:s|ed|ive|ing|ion)?|borderline|presum(?:ed|ably)|represent(?:s|ing)?|favou?r(?:s|ed)?|vs|versus)\b/;

/** A cue's words that make its hedge "possible" rather than "probable". */
export const POSSIBLE_WORDS =
  /\b(?:may|might|could|possibl[ey]|possible|question|questionable|questioned|equivocal|indeterminate|uncertain|unclear|perhaps|differential|consider|exclude[ds]?|rule out|ruled out|r\/o|evaluate|evaluation|assess)\b|\?/;

/** "or"/"versus" joining two findings makes both uncertain; only near the mention. */
export const ALTERNATIVE_NEAR_BEFORE = /\b(?:or|versus|vs|and\/or)\b[^a-z]*(?:[a-z]+[^a-z]+){0,3}$/;
export const ALTERNATIVE_NEAR_AFTER = /^[^a-z]*(?:[a-z]+[^a-z]+){0,1}?(?:or|versus|vs|and\/or)\b/;

/**
 * Hedges after the mention ("effusion is possible", "atelectasis?"). "Opacity, possibly scarring" hedges
 * the scarring, not the opacity, so a bare "possibly" after the mention does not count.
 */
export const UNCERTAINTY_AFTER =
  /^(?:[^.;a-z?]*[a-z]+(?![a-z])){0,4}?[^.;a-z?]*(?:(?:is|are|was|were)\s+(?:also\s+)?(?:possible|possibly present|suspected|likely|probable|questionable|questioned)|could be present|may be present)\b|^\s*\?/;

/** Clause boundaries inside a sentence: cues do not reach across them. */
export const CLAUSE_BOUNDARY =
  /;|\(|\b(?:but|however|although|though|except|whereas|while|aside from|apart from|other than|besides|which|otherwise|and there)\b/g;

/** Sentence boundaries: end punctuation before a space, a newline, or a section-heading colon. */
// A "?" stays inside its sentence (it hedges the mention before it); the cut is just after it.
export const SENTENCE_BOUNDARY = /[.!](?=\s|$|[A-Z])|(?<=\?)(?=\s|$)|\n|:(?=\s)/g;

/** A verb right after a negation belongs to it ("do not demonstrate X"), so it does not end its scope. */
export const VERB_AFTER_NEGATION = /^\s*(?:demonstrate|show|reveal|see|identify|have|has|had|appear)[a-z]*/;

/** A normal state stated right after the mention ("vascular congestion appears within normal limits"). */
export const NORMAL_AFTER =
  /^\s*(?:(?:is|are|appears?|remains?)\s+)?(?:within (?:normal limits|limits of normal)|normal)\b/;

/**
 * A mention explained, in its own clause, as something benign outside the 14 ("nodular density
 * consistent with a granuloma", "nodule, likely a nipple shadow"): the words describe that thing, so
 * they are not a mention of the observation. The CheXpert labeler gets the same effect from its
 * exclusion phrases; radfleet reads the explanation's structure instead.
 */
export const EXPLAINED_AS_BENIGN_AFTER =
  /^[^.;:]{0,40}?\b(?:consistent with|compatible with|likely|probably|most likely|representing|represents?|reflecting|reflects?|due to|from|c\/w|characteristic of|typical of|suggestive of|suggesting|(?:is|are) (?:an? |the )?)\s*(?:an? |the )?(?:(?:old|prior|previous|healed|chronic|calcified|small|tiny|benign|remote|overlying)\s+)*(?:granulom|nipple|overlap|superimpos|vessels?\b|vascular (?:structure|shadow)|costochondral|artifact|skin fold|scar|calcifi|bone island|healed)/;
