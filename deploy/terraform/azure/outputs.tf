output "resource_group" {
  value = azurerm_resource_group.qlp.name
}

output "aks_name" {
  value = azurerm_kubernetes_cluster.qlp.name
}

output "registry_login_server" {
  value = azurerm_container_registry.qlp.login_server
}

output "postgres_host" {
  value = azurerm_postgresql_flexible_server.qlp.fqdn
}

# Goes into the chart's Secret as QLP_DATABASE_URL (never into git).
output "database_url" {
  value     = "postgres://qlpadmin:${random_password.postgres.result}@${azurerm_postgresql_flexible_server.qlp.fqdn}:5432/qlp?sslmode=require"
  sensitive = true
}

# Goes into the chart's Secret as QLP_REDIS_URL.
output "redis_url" {
  value     = "rediss://:${azurerm_redis_cache.qlp.primary_access_key}@${azurerm_redis_cache.qlp.hostname}:${azurerm_redis_cache.qlp.ssl_port}/0"
  sensitive = true
}

output "storage_account" {
  value = azurerm_storage_account.qlp.name
}

output "log_analytics_workspace_id" {
  value = azurerm_log_analytics_workspace.qlp.id
}
