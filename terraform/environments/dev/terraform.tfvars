# Non-secret inputs of dev that differ per account (the pipeline adds `repository`). Replace both
# CHANGE-ME values before the first plan: terraform/README.md, "Bootstrap". Secrets never go here.
certificate_arn = "arn:aws:acm:eu-west-1:000000000000:certificate/CHANGE-ME"
image_tag       = "CHANGE-ME"
# Who hears the alarms: e.g. [{ protocol = "email", endpoint = "oncall@example.com" }].
alarm_subscriptions = []
