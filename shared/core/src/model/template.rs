use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::{ClientId, TemplateId};
use crate::types::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TemplateFormat {
    /// Plain text: values are inserted verbatim.
    #[default]
    Text,
    /// HTML email body: values are HTML-escaped.
    Html,
}

/// One language's wording. `subject` is ignored for SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: TemplateId,
    pub client_id: ClientId,
    pub title: String,
    pub default_lang: Lang,
    pub format: TemplateFormat,
    pub versions: BTreeMap<Lang, TemplateVersion>,
    pub created_at: UnixTime,
}

impl Template {
    /// The version for `lang`: exact tag, then its primary language (`pt` for
    /// `pt-BR`), then any version of the same primary language, then the
    /// template's default language.
    pub fn version_for(&self, lang: &Lang) -> Option<(&Lang, &TemplateVersion)> {
        self.versions
            .get_key_value(lang)
            .or_else(|| self.versions.iter().find(|(l, _)| l.as_str() == lang.primary()))
            .or_else(|| self.versions.iter().find(|(l, _)| l.primary() == lang.primary()))
            .or_else(|| self.versions.get_key_value(&self.default_lang))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(langs: &[&str], default: &str) -> Template {
        Template {
            id: TemplateId::generate(),
            client_id: ClientId::generate(),
            title: "t".into(),
            default_lang: Lang::parse(default).unwrap(),
            format: TemplateFormat::Text,
            versions: langs
                .iter()
                .map(|l| (Lang::parse(l).unwrap(), TemplateVersion { subject: l.to_string(), body: l.to_string() }))
                .collect(),
            created_at: 0,
        }
    }

    fn pick(t: &Template, lang: &str) -> String {
        t.version_for(&Lang::parse(lang).unwrap()).unwrap().1.subject.clone()
    }

    #[test]
    fn version_lookup_falls_back_from_region_to_language_to_default() {
        let t = template(&["en", "pt", "fr-CA"], "en");
        assert_eq!(pick(&t, "pt-BR"), "pt");
        assert_eq!(pick(&t, "fr"), "fr-CA");
        assert_eq!(pick(&t, "fr-CA"), "fr-CA");
        assert_eq!(pick(&t, "de"), "en");
    }
}
