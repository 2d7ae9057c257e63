output "remote_topic" {
  description = "Name of the mirrored fan-out topic in the target region."
  value       = "${var.source_name}.chat.fanout"
}
