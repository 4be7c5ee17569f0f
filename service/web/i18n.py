"""Every text the web pages show, in French (the default) and English, from one dictionary.

The language comes from the `lang` query parameter (which also sets the `lang` cookie), else the
cookie, else French. Numbers and dates follow the language: "12 500,00 €" and 05/01/2026 in
French, "€12,500.00" and 2026-01-05 in English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = ["LANGUAGES", "TEXTS", "Language", "Translator", "language_of"]

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")
NBSP = "\u00a0"

# key -> (French, English). Placeholders are str.format fields.
TEXTS: Mapping[str, tuple[str, str]] = {
    # frame
    "app_name": ("Risque client", "Credit risk"),
    "nav_check": ("Vérifier un prospect", "Prospect check"),
    "nav_portfolio": ("Portefeuille", "Portfolio"),
    "nav_model": ("Modèle", "Model"),
    "sign_out": ("Se déconnecter", "Sign out"),
    "switch_language": ("English", "Français"),
    "signed_in_as": ("Connecté : {name} ({roles})", "Signed in: {name} ({roles})"),
    # sign-in
    "sign_in_title": ("Connexion", "Sign in"),
    "sign_in_intro": (
        "Saisissez votre clé d'API (créée avec « credit-risk keys create »).",
        "Enter your API key (created with `credit-risk keys create`).",
    ),
    "api_key": ("Clé d'API", "API key"),
    "sign_in": ("Se connecter", "Sign in"),
    "key_missing": ("Saisissez une clé d'API.", "Enter an API key."),
    "key_refused": (
        "Clé inconnue ou révoquée : vérifiez-la ou demandez-en une nouvelle.",
        "Unknown or revoked key: check it or ask for a new one.",
    ),
    "signed_out": ("Vous êtes déconnecté.", "You are signed out."),
    "not_allowed": (
        "Votre clé ({roles}) ne permet pas cette page ; il faut le rôle {needed}.",
        "Your key ({roles}) does not allow this page; it needs the role {needed}.",
    ),
    # prospect check
    "check_title": ("Vérifier un client ou un prospect", "Check a customer or a prospect"),
    "search_label": ("SIREN ou nom de la société", "SIREN or company name"),
    "search": ("Rechercher", "Search"),
    "search_hint": (
        "9 chiffres pour un SIREN, sinon le début ou une partie du nom.",
        "9 digits for a SIREN, otherwise the start or part of the name.",
    ),
    "no_match": (
        "Aucune société connue ne correspond à « {q} ».",
        "No known company matches “{q}”.",
    ),
    "matches": ("{n} société(s) trouvée(s)", "{n} compan(y/ies) found"),
    "customer_account": ("client {id}", "customer {id}"),
    "prospect": ("prospect", "prospect"),
    "sole_trader": ("entrepreneur individuel", "sole trader"),
    "ceased": ("cessée", "ceased"),
    "score_it": ("Noter", "Score"),
    "invalid_siren": (
        "SIREN invalide « {value} » : {reason}.",
        "Invalid SIREN “{value}”: {reason}.",
    ),
    "luhn_rule": (
        "un SIREN compte 9 chiffres dont la somme de Luhn est un multiple de 10 (doubler un "
        "chiffre sur deux en partant de la droite, puis additionner les chiffres)",
        "a SIREN is 9 digits whose Luhn checksum is a multiple of 10 (double every second "
        "digit from the right, then add the digits)",
    ),
    "reason_digits": (
        "contient autre chose que des chiffres",
        "contains characters other than digits",
    ),
    "reason_length": ("compte {n} chiffres au lieu de 9", "has {n} digits instead of 9"),
    "reason_luhn": ("la clé de contrôle (Luhn) est fausse", "fails the Luhn checksum"),
    "reason_missing": ("vide", "missing"),
    "unknown_siren": (
        "Le SIREN {siren} est valide mais inconnu : ni client, ni société du registre.",
        "SIREN {siren} is valid but unknown: neither a customer nor a registry company.",
    ),
    "score_from_data": ("Noter à partir des données de la société", "Score from company data"),
    "company_name": ("Raison sociale", "Company name"),
    "naf_code": ("Code NAF (ex. 46.69B)", "NAF code (e.g. 46.69B)"),
    "creation_date": ("Date de création", "Creation date"),
    "legal_form": ("Catégorie juridique (ex. 5710)", "Legal category (e.g. 5710)"),
    "share_capital": ("Capital social (€)", "Share capital (EUR)"),
    "headcount_band": ("Tranche d'effectif INSEE (ex. 03)", "INSEE headcount band (e.g. 03)"),
    "is_sole_trader": ("Entrepreneur individuel", "Sole trader"),
    "invalid_input": ("Saisie refusée : {message}", "Input refused: {message}"),
    "no_model": (
        "Aucun modèle n'est chargé : la notation est indisponible ({message}).",
        "No model is loaded: scoring is unavailable ({message}).",
    ),
    "may_not_score": (
        "Votre clé ne permet pas de noter (rôle sales ou erp requis).",
        "Your key may not score (role sales or erp needed).",
    ),
    # score card
    "grade": ("Note", "Grade"),
    "grade_of": ("Note {grade}", "Grade {grade}"),
    "p_late": ("Probabilité de retard (> 5 jours)", "Probability of late payment (> 5 days)"),
    "p_severe": (
        "Probabilité de retard grave (> 60 jours ou impayé)",
        "Probability of severe delay (> 60 days or unpaid)",
    ),
    "expected_payment": ("Paiement attendu le", "Expected payment on"),
    "due_on": ("échéance le {date}", "due on {date}"),
    "expected_days_late": ("{days} jours après l'échéance", "{days} days after the due date"),
    "basis_prospect": (
        "Prospect : noté sur les seules données de la société.",
        "Prospect: scored from company data alone.",
    ),
    "basis_customer": (
        "Noté sur l'historique de paiement et les données de la société.",
        "Scored from the payment history and company data.",
    ),
    "reasons": ("Pourquoi", "Why"),
    "raises": ("augmente le risque", "raises the risk"),
    "lowers": ("diminue le risque", "lowers the risk"),
    "no_reasons": ("Aucune raison marquante.", "No salient reason."),
    "review_required": (
        "Entrepreneur individuel (personne physique) : cette note est un avis ; une personne "
        "doit examiner la décision avant toute suite (RGPD art. 22).",
        "Sole trader (a natural person): this score is advice; a person must review the "
        "decision before acting on it (GDPR art. 22).",
    ),
    "recommended_terms": ("Conditions recommandées", "Recommended terms"),
    "deadline": ("Délai de paiement", "Payment deadline"),
    "deadline_invoice": (
        "{days} jours date de facture (échéance {date})",
        "{days} days from the invoice date (due {date})",
    ),
    "deadline_eom": (
        "{days} jours fin de mois (échéance {date})",
        "{days} days end of month (due {date})",
    ),
    "deposit": ("Acompte", "Deposit"),
    "deposit_value": ("{percent} soit {amount}", "{percent}, i.e. {amount}"),
    "none": ("aucun", "none"),
    "prepayment": ("Paiement à la commande", "Prepayment"),
    "yes": ("oui", "yes"),
    "no": ("non", "no"),
    "settle_before": ("Avant une nouvelle commande", "Before a new order"),
    "settle_none": ("rien à régler", "nothing to settle"),
    "settle_overdue": ("régler les factures échues", "settle overdue invoices"),
    "settle_all_open": ("régler toutes les factures ouvertes", "settle all open invoices"),
    "credit_limit": ("Encours maximum", "Credit limit"),
    "credit_available": ("{limit}, disponible {available}", "{limit}, available {available}"),
    "payment_method": ("Moyen de paiement", "Payment method"),
    "method_bank_transfer": ("virement", "bank transfer"),
    "method_sepa_direct_debit": ("prélèvement SEPA", "SEPA direct debit"),
    "method_card": ("carte", "card"),
    "method_prepayment": ("paiement d'avance", "prepayment"),
    "late_interest": ("Pénalités de retard", "Late-payment interest"),
    "late_interest_value": (
        "{rate} par an (taux BCE {ecb} + 10 points ; plancher {floor}), semestre {half}",
        "{rate} a year (ECB rate {ecb} + 10 points; floor {floor}), half-year {half}",
    ),
    "indemnity": ("Indemnité forfaitaire de recouvrement", "Fixed recovery indemnity"),
    "indemnity_value": ("{amount} (art. D441-5)", "{amount} (art. D441-5)"),
    "legal_notice": ("Mention à porter sur la facture", "Notice to print on the invoice"),
    "adjustments": ("Ajustements", "Adjustments"),
    "terms_review": ("À vérifier", "To check"),
    "no_terms": ("Aucune politique de conditions n'est chargée.", "No terms policy is loaded."),
    "dunning_plan": ("Plan de relance", "Dunning plan"),
    "due_date_marker": ("Échéance", "Due date"),
    "offset_before": ("J{offset}", "D{offset}"),
    "offset_after": ("J+{offset}", "D+{offset}"),
    "after_payment": ("après paiement", "after payment"),
    "channel_email": ("e-mail", "email"),
    "channel_sms": ("SMS", "SMS"),
    "channel_phone": ("appel", "phone call"),
    "channel_letter": ("courrier", "letter"),
    "channel_formal_notice": ("mise en demeure", "formal notice"),
    "channel_injunction": ("injonction de payer", "court injunction"),
    "channel_collection_agency": ("société de recouvrement", "collection agency"),
    "tone_friendly": ("cordial", "friendly"),
    "tone_firm": ("ferme", "firm"),
    "tone_formal": ("formel", "formal"),
    "tone_legal": ("juridique", "legal"),
    "level": ("niveau {level}", "level {level}"),
    # what-if
    "what_if": ("Et si…", "What if…"),
    "order_amount": ("Montant de la commande (€)", "Order amount (EUR)"),
    "terms_days": ("Délai demandé (jours)", "Requested deadline (days)"),
    "update": ("Recalculer", "Update"),
    "updating": ("Calcul…", "Updating…"),
    "update_failed": ("Le calcul a échoué : {message}", "The update failed: {message}"),
    "decision_id": ("Décision {id} · modèle {model}", "Decision {id} · model {model}"),
    # portfolio
    "portfolio_title": ("Portefeuille clients", "Customer portfolio"),
    "portfolio_scored": (
        "Notation du portefeuille du {date} ({count} clients), modèle {model}.",
        "Portfolio scoring of {date} ({count} customers), model {model}.",
    ),
    "portfolio_running": (
        "Notation du portefeuille en cours… La page se recharge d'elle-même.",
        "Portfolio scoring in progress… The page reloads by itself.",
    ),
    "portfolio_failed": (
        "La notation du portefeuille a échoué : {message}",
        "The portfolio scoring failed: {message}",
    ),
    "portfolio_stale": (
        "Dernière notation du {date} ; celle d'aujourd'hui est en cours.",
        "Last scoring of {date}; today's is in progress.",
    ),
    "by_grade": ("Par note", "By grade"),
    "customers": ("Clients", "Customers"),
    "exposure": ("Encours", "Exposure"),
    "overdue": ("Échu", "Overdue"),
    "total": ("Total", "Total"),
    "aged_balance": ("Balance âgée", "Aged balance"),
    "bucket_not_due": ("non échu", "not due"),
    "bucket_1_30": ("1–30 j", "1–30 d"),
    "bucket_31_60": ("31–60 j", "31–60 d"),
    "bucket_61_90": ("61–90 j", "61–90 d"),
    "bucket_over_90": ("> 90 j", "> 90 d"),
    "alerts": ("Alertes", "Alerts"),
    "no_alerts": ("Aucune alerte.", "No alerts."),
    "alert_worsened": ("Note dégradée : {before} → {after}", "Grade worsened: {before} → {after}"),
    "alert_event": (
        "Procédure collective : {kind} le {date}",
        "Insolvency event: {kind} on {date}",
    ),
    "alert_over_limit": (
        "Encours {open} au-delà de la limite {limit}",
        "Exposure {open} above the limit {limit}",
    ),
    "worsened": ("Notes dégradées", "Worsened grades"),
    "events": (
        "Procédures collectives récentes ({days} jours)",
        "Recent insolvency events ({days} days)",
    ),
    "over_limit": ("Au-delà de l'encours maximum", "Above the credit limit"),
    "largest_exposures": ("Plus gros encours", "Largest exposures"),
    "customer": ("Client", "Customer"),
    # customer card
    "customer_title": ("Client {id}", "Customer {id}"),
    "unknown_customer": ("Client inconnu : {id}.", "Unknown customer: {id}."),
    "history": ("Historique des factures", "Invoice history"),
    "invoice": ("Facture", "Invoice"),
    "issued": ("Émise", "Issued"),
    "due": ("Échéance", "Due"),
    "amount": ("Montant", "Amount"),
    "paid_on": ("Payée le", "Paid on"),
    "days_late": ("Jours de retard", "Days late"),
    "open_amount": ("Reste dû", "Open"),
    "payments": ("Règlements", "Payments"),
    "disputed": ("litige", "disputed"),
    "open_invoices": ("Factures ouvertes et relances", "Open invoices and dunning"),
    "no_open": ("Aucune facture ouverte.", "No open invoices."),
    "step_today": ("Étape du jour", "Today's step"),
    "next_step": ("Étape suivante", "Next step"),
    "on_date": ("{step} le {date}", "{step} on {date}"),
    "not_yet": ("pas encore", "not yet"),
    "plan_done": ("plan terminé", "plan completed"),
    "grade_over_time": ("Note dans le temps", "Grade over time"),
    "no_decisions": ("Pas encore de note enregistrée.", "No score recorded yet."),
    "score_now": ("Noter maintenant", "Score now"),
    "summary": ("Synthèse", "Summary"),
    "invoices_count": ("{n} factures, {late} payées en retard", "{n} invoices, {late} paid late"),
    "showing_last": ("Les {n} dernières factures.", "The last {n} invoices."),
    "no_plan": (
        "Pas de plan de relance connu (aucune notation).",
        "No known dunning plan (no score).",
    ),
    # model card
    "model_title": ("Fiche du modèle", "Model card"),
    "champion": ("Champion (en service)", "Champion (serving)"),
    "challenger": ("Challenger", "Challenger"),
    "no_challenger": ("Pas de challenger dans le registre.", "No challenger in the registry."),
    "no_registry": (
        "Le service lit un répertoire de modèle ({source}) : pas de registre, donc pas de "
        "challenger.",
        "The service reads a model directory ({source}): no registry, so no challenger.",
    ),
    "registry_unavailable": (
        "Registre inaccessible : {message}",
        "Registry unavailable: {message}",
    ),
    "version": ("Version", "Version"),
    "source": ("Source", "Source"),
    "loaded_at": ("Chargé le", "Loaded at"),
    "grade_bands": ("Bornes des notes (P retard)", "Grade bands (P late)"),
    "metrics": ("Mesures sur l'échantillon de test", "Holdout metrics"),
    "no_metrics": (
        "Mesures indisponibles pour ce modèle.",
        "Metrics not available for this model.",
    ),
    "training_data": ("Données d'entraînement", "Training data"),
    "policy_title": ("Politique de conditions", "Terms policy"),
    "penalty_today": ("Pénalités de retard aujourd'hui", "Late-payment penalty today"),
    "penalty_rate": (
        "{rate}\u00a0% l'an (taux de {half_year}, {rule})",
        "{rate}% a year ({half_year} rates, {rule})",
    ),
    "penalty_ecb_plus_10": ("BCE + 10 points", "ECB + 10 points"),
    "penalty_legal_floor": ("3 fois le taux légal", "3 x the legal rate"),
    "penalty_contractual": ("taux contractuel", "contractual rate"),
    "rates_missing_now": (
        "La politique {version} n'a pas de taux pour {half_year}, en cours depuis le {starts} : "
        "les recommandations prennent ceux de {used} et demandent une vérification. Ajoutez "
        "[interest_rates.{half_year}] (taux de refinancement de la BCE au {starts}, taux de "
        "l'intérêt légal des professionnels du semestre), à vérifier avec « credit-risk policy "
        "check ».",
        "Policy {version} has no rates for {half_year}, in force since {starts}: "
        "recommendations use those of {used} and are flagged for review. Add "
        "[interest_rates.{half_year}] (the ECB refinancing rate on {starts}, the legal interest "
        "rate for professionals of the half-year), checked with `credit-risk policy check`.",
    ),
    "rates_missing_soon": (
        "La politique {version} n'a pas de taux pour {half_year}, qui commence le {starts} "
        "(dans {days} jours) : ajoutez [interest_rates.{half_year}] d'ici là, sinon les "
        "recommandations prendront ceux de {used} et demanderont une vérification.",
        "Policy {version} has no rates for {half_year}, which starts on {starts} (in {days} "
        "days): add [interest_rates.{half_year}] before then, or recommendations will use "
        "those of {used} and be flagged for review.",
    ),
    "plots": ("Graphiques d'évaluation", "Evaluation plots"),
    "no_plots": (
        "Graphiques indisponibles : ni le répertoire du modèle ni le registre ne les fournissent.",
        "Plots not available: neither the model directory nor the registry holds them.",
    ),
    "plots_loading": ("Graphiques en cours de récupération…", "Fetching the plots…"),
    "drift": ("Dérive (PSI)", "Drift (PSI)"),
    "drift_intro": (
        "PSI entre l'entraînement et la notation du portefeuille du {date} ({n} clients). "
        "Seuils : 0,10 à surveiller, 0,25 à traiter.",
        "PSI between training and the portfolio scoring of {date} ({n} customers). "
        "Thresholds: 0.10 watch, 0.25 act.",
    ),
    "drift_computing": (
        "Dérive en cours de calcul sur la dernière notation…",
        "Computing the drift on the latest scoring…",
    ),
    "drift_none": (
        "Pas encore de notation récente pour mesurer la dérive.",
        "No recent scoring yet to measure drift.",
    ),
    "column": ("Variable", "Column"),
    "drift_level": ("Niveau", "Level"),
    "drift_population_note": (
        "L'entraînement compte une ligne par facture, la notation du portefeuille une ligne par "
        "client : les clients qui facturent souvent pèsent davantage à l'entraînement, ce qui "
        "déplace à lui seul les variables d'historique.",
        "Training counts one row per invoice, the portfolio scoring one row per customer: "
        "customers invoiced often weigh more in training, which alone shifts the history "
        "features.",
    ),
    "psi": ("PSI", "PSI"),
    "level_stable": ("stable", "stable"),
    "level_watch": ("à surveiller", "watch"),
    "level_act": ("à traiter", "act"),
    "score_psi": ("Score (P retard)", "Score (P late)"),
    "score_psi_note_trained": (
        "Le score est comparé à sa distribution sur la fenêtre de validation de l'entraînement.",
        "The score is compared with its distribution on the training's validation window.",
    ),
    "score_psi_note": (
        "Le modèle ne stocke pas de référence pour le score : celui-ci est comparé à la "
        "première notation du portefeuille par ce modèle ({date}).",
        "The model stores no reference for the score: it is compared with this model's first "
        "portfolio scoring ({date}).",
    ),
    "order_feature_note": (
        "variable de commande : la notation du portefeuille n'a pas de commande, à lire avec "
        "prudence",
        "order variable: the portfolio scoring has no order, read with care",
    ),
    "more_alerts": ("… et {n} de plus", "… and {n} more"),
    "kind_conciliation": ("conciliation", "conciliation"),
    "kind_sauvegarde": ("sauvegarde", "safeguard"),
    "kind_redressement": ("redressement judiciaire", "receivership"),
    "kind_liquidation": ("liquidation judiciaire", "liquidation"),
    "kind_plan": ("plan de continuation", "continuation plan"),
    "kind_cloture": ("clôture de la procédure", "proceedings closed"),
    "adjusted": ("{field} ajusté selon {rule}", "{field} adjusted by {rule}: {message}"),
    "rule_policy": ("la politique de conditions", "the terms policy"),
    "rule_credit_limit": ("l'encours maximum", "the credit limit"),
    "rule_dunning": (
        "la date de facture (relances trop tôt retirées)",
        "the invoice date (reminders too early dropped)",
    ),
    # errors
    "not_found": ("Page introuvable.", "Page not found."),
}


def _money(value: float, language: Language, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if language == "fr":
        text = text.replace(",", NBSP).replace(".", ",")
        return f"{text}{NBSP}€"
    return f"€{text}"


@dataclass(frozen=True)
class Translator:
    """Texts and formats of one language; templates call it as `t("key", name=value)`."""

    language: Language

    def __call__(self, key: str, /, **values: object) -> str:
        fr, en = TEXTS[key]
        text = fr if self.language == "fr" else en
        return text.format(**values) if values else text

    @property
    def other(self) -> Language:
        return "en" if self.language == "fr" else "fr"

    def money(self, value: float | None, decimals: int = 0) -> str:
        return "–" if value is None else _money(float(value), self.language, decimals)

    def thousands(self, value: float) -> str:
        """An amount in thousands of euros, for chart labels."""
        text = self.number(value / 1000)
        return f"{text}{NBSP}k€" if self.language == "fr" else f"€{text}k"

    def kind(self, kind: str) -> str:
        """An insolvency step's name (the ledger's code when it is not a known one)."""
        key = f"kind_{kind}"
        return self(key) if key in TEXTS else kind

    def adjustment(self, field: str, rule: str, message: str) -> str:
        """A change the terms policy made, in the page's language (the detail in English)."""
        labels = {"deposit_percent": "deposit", "prepayment_required": "prepayment",
                  "deadline": "deadline", "settle_before_new_order": "settle_before",
                  "dunning_plan": "dunning_plan", "credit_limit": "credit_limit"}  # fmt: skip
        label = self(labels[field]) if field in labels else field
        rule_key = f"rule_{rule}"
        by = self(rule_key) if rule_key in TEXTS else f"art. {rule}"
        return self("adjusted", field=label, rule=by, message=message)

    def percent(self, value: float | None, decimals: int = 1) -> str:
        if value is None:
            return "–"
        text = f"{100 * float(value):.{decimals}f}"
        return f"{text.replace('.', ',')}{NBSP}%" if self.language == "fr" else f"{text}%"

    def number(self, value: float | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        text = f"{float(value):,.{decimals}f}"
        return text.replace(",", NBSP).replace(".", ",") if self.language == "fr" else text

    def day(self, value: date | str | None) -> str:
        if value is None:
            return "–"
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return day.strftime("%d/%m/%Y") if self.language == "fr" else day.isoformat()


def language_of(query: str | None, cookie: str | None) -> Language:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return "fr"
