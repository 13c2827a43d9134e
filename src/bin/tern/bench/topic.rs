//! Topic templates of emqtt-bench: `%i` the client's index, `%c` its
//! client id, and tern's `%r`, the run id (so that runs do not see each
//! other's messages).

use crate::common::{usage, CliError};
use tern_mqtt::topic::{TopicFilter, TopicName};

/// A topic template and the run it belongs to.
#[derive(Debug, Clone)]
pub struct Template {
    template: String,
    run: String,
}

impl Template {
    /// A template for run `run`.
    pub fn new(template: &str, run: &str) -> Template {
        Template {
            template: template.to_owned(),
            run: run.to_owned(),
        }
    }

    /// The run id that %r stands for.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The text with every code replaced.
    fn expand(&self, index: usize, client_id: &str) -> String {
        self.template
            .replace("%i", &index.to_string())
            .replace("%c", client_id)
            .replace("%r", &self.run)
    }

    /// The topic name of client `index` with id `client_id`.
    pub fn topic(&self, index: usize, client_id: &str) -> Result<TopicName, CliError> {
        let t = self.expand(index, client_id);
        TopicName::new(&t).map_err(|e| usage(format!("topic {t:?} of -t {:?}: {e}", self.template)))
    }

    /// The filter of subscriber `index`: the template as given, or with %i
    /// and %c as `+` when it is the publishers' template.
    pub fn filter(
        &self,
        index: usize,
        client_id: &str,
        wildcard: bool,
    ) -> Result<TopicFilter, CliError> {
        let f = if wildcard {
            self.template
                .replace("%i", "+")
                .replace("%c", "+")
                .replace("%r", &self.run)
        } else {
            self.expand(index, client_id)
        };
        TopicFilter::new(&f).map_err(|e| usage(format!("filter {f:?} of {:?}: {e}", self.template)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_replaced() {
        let t = Template::new("bench/%r/%c/%i", "ab12");
        assert_eq!(t.topic(3, "id-3").unwrap().as_str(), "bench/ab12/id-3/3");
        assert_eq!(
            t.filter(0, "s", true).unwrap().to_string(),
            "bench/ab12/+/+"
        );
        assert!(Template::new("a/%i/#", "r").topic(1, "c").is_err());
    }
}
