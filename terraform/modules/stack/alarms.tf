# The environment's alarm topic: every alarm of the network, data and service modules notifies it
# (plus any topic in var.alarm_actions), and alarm_subscriptions say who hears it (an email list,
# a chat or paging integration's HTTPS endpoint). Encrypted with the environment's key.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = module.data.kms_key_arn
}

resource "aws_sns_topic_subscription" "alarms" {
  for_each = { for subscription in var.alarm_subscriptions : "${subscription.protocol}:${subscription.endpoint}" => subscription }

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

locals {
  alarm_actions = concat([aws_sns_topic.alarms.arn], var.alarm_actions)
}
