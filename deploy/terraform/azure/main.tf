resource "azurerm_resource_group" "qlp" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

# Monitoring: AKS container insights and the diagnostic logs go here.
resource "azurerm_log_analytics_workspace" "qlp" {
  name                = "${var.prefix}-logs"
  location            = azurerm_resource_group.qlp.location
  resource_group_name = azurerm_resource_group.qlp.name
  sku                 = "PerGB2018"
  retention_in_days   = 30
  tags                = var.tags
}

# Networking: AKS nodes and the database in one virtual network; the
# database has no public endpoint.
resource "azurerm_virtual_network" "qlp" {
  name                = "${var.prefix}-vnet"
  location            = azurerm_resource_group.qlp.location
  resource_group_name = azurerm_resource_group.qlp.name
  address_space       = ["10.40.0.0/16"]
  tags                = var.tags
}

resource "azurerm_subnet" "aks" {
  name                 = "aks"
  resource_group_name  = azurerm_resource_group.qlp.name
  virtual_network_name = azurerm_virtual_network.qlp.name
  address_prefixes     = ["10.40.0.0/20"]
}

resource "azurerm_subnet" "postgres" {
  name                 = "postgres"
  resource_group_name  = azurerm_resource_group.qlp.name
  virtual_network_name = azurerm_virtual_network.qlp.name
  address_prefixes     = ["10.40.16.0/24"]
  service_endpoints    = ["Microsoft.Storage"]
  delegation {
    name = "postgres"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_private_dns_zone" "postgres" {
  name                = "${var.prefix}.postgres.database.azure.com"
  resource_group_name = azurerm_resource_group.qlp.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgres" {
  name                  = "${var.prefix}-postgres"
  private_dns_zone_name = azurerm_private_dns_zone.postgres.name
  resource_group_name   = azurerm_resource_group.qlp.name
  virtual_network_id    = azurerm_virtual_network.qlp.id
}

# Images: the one qlp image.
resource "azurerm_container_registry" "qlp" {
  name                = "${var.prefix}registry"
  location            = azurerm_resource_group.qlp.location
  resource_group_name = azurerm_resource_group.qlp.name
  sku                 = "Basic"
  admin_enabled       = false
  tags                = var.tags
}

# AKS. The system pool cannot scale to zero, so it stays at one node for
# the cluster's own pods; the application pool is the strategy's 2 x
# D2s_v3 scaling between 0 and 4; the sandbox pool (tainted) keeps the
# privileged sandbox pods off the nodes of everything else.
resource "azurerm_kubernetes_cluster" "qlp" {
  name                = "${var.prefix}-aks"
  location            = azurerm_resource_group.qlp.location
  resource_group_name = azurerm_resource_group.qlp.name
  dns_prefix          = var.prefix
  kubernetes_version  = var.kubernetes_version
  sku_tier            = "Free"

  default_node_pool {
    name                         = "system"
    vm_size                      = var.node_vm_size
    vnet_subnet_id               = azurerm_subnet.aks.id
    auto_scaling_enabled         = false
    node_count                   = 1
    only_critical_addons_enabled = true
    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
    # The chart's NetworkPolicies need an enforcing plugin.
    network_policy = "azure"
  }

  oms_agent {
    log_analytics_workspace_id = azurerm_log_analytics_workspace.qlp.id
  }

  tags = var.tags
}

resource "azurerm_kubernetes_cluster_node_pool" "apps" {
  name                  = "apps"
  kubernetes_cluster_id = azurerm_kubernetes_cluster.qlp.id
  vm_size               = var.node_vm_size
  vnet_subnet_id        = azurerm_subnet.aks.id
  auto_scaling_enabled  = true
  node_count            = var.app_node_count
  min_count             = var.app_node_min
  max_count             = var.app_node_max
  mode                  = "User"
  tags                  = var.tags
}

resource "azurerm_kubernetes_cluster_node_pool" "sandbox" {
  name                  = "sandbox"
  kubernetes_cluster_id = azurerm_kubernetes_cluster.qlp.id
  vm_size               = var.node_vm_size
  vnet_subnet_id        = azurerm_subnet.aks.id
  auto_scaling_enabled  = true
  node_count            = 0
  min_count             = 0
  max_count             = 2
  mode                  = "User"
  node_labels           = { "qlp.dev/pool" = "sandbox" }
  node_taints           = ["qlp.dev/sandbox=true:NoSchedule"]
  tags                  = var.tags
}

resource "azurerm_role_assignment" "aks_pull" {
  scope                            = azurerm_container_registry.qlp.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.qlp.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

# PostgreSQL: QLP's system of record (QLP_DATABASE_URL) and, with the
# vector extension allowed, the pgvector store of the Vector Memory.
resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "azurerm_postgresql_flexible_server" "qlp" {
  name                          = "${var.prefix}-postgres"
  location                      = azurerm_resource_group.qlp.location
  resource_group_name           = azurerm_resource_group.qlp.name
  version                       = "15"
  sku_name                      = var.postgres_sku
  storage_mb                    = var.postgres_storage_mb
  backup_retention_days         = var.postgres_backup_retention_days
  geo_redundant_backup_enabled  = false
  delegated_subnet_id           = azurerm_subnet.postgres.id
  private_dns_zone_id           = azurerm_private_dns_zone.postgres.id
  public_network_access_enabled = false
  administrator_login           = "qlpadmin"
  administrator_password        = random_password.postgres.result
  zone                          = "1"
  tags                          = var.tags

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

resource "azurerm_postgresql_flexible_server_database" "qlp" {
  name      = "qlp"
  server_id = azurerm_postgresql_flexible_server.qlp.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_postgresql_flexible_server_configuration" "extensions" {
  name      = "azure.extensions"
  server_id = azurerm_postgresql_flexible_server.qlp.id
  value     = "VECTOR"
}

# Redis: LLM response cache, rate limits, progress pub/sub (QLP_REDIS_URL).
resource "azurerm_redis_cache" "qlp" {
  name                 = "${var.prefix}-redis"
  location             = azurerm_resource_group.qlp.location
  resource_group_name  = azurerm_resource_group.qlp.name
  capacity             = var.redis_sku.capacity
  family               = var.redis_sku.family
  sku_name             = var.redis_sku.name
  non_ssl_port_enabled = false
  minimum_tls_version  = "1.2"
  tags                 = var.tags
}

# Blob storage: capsule archives and database backups.
resource "azurerm_storage_account" "qlp" {
  name                            = "${var.prefix}storage"
  location                        = azurerm_resource_group.qlp.location
  resource_group_name             = azurerm_resource_group.qlp.name
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.tags

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 14
    }
  }
}

resource "azurerm_storage_container" "capsules" {
  name                  = "capsules"
  storage_account_id    = azurerm_storage_account.qlp.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "backups" {
  name                  = "backups"
  storage_account_id    = azurerm_storage_account.qlp.id
  container_access_type = "private"
}

# Infrastructure alerts the Prometheus rules cannot see: the managed
# database's disk (warning above 80%, as in the strategy) and CPU.
resource "azurerm_monitor_action_group" "qlp" {
  name                = "${var.prefix}-oncall"
  resource_group_name = azurerm_resource_group.qlp.name
  short_name          = "qlp"
  email_receiver {
    name          = "oncall"
    email_address = var.alert_email
  }
  tags = var.tags
}

resource "azurerm_monitor_metric_alert" "postgres_storage" {
  name                = "${var.prefix}-postgres-storage"
  resource_group_name = azurerm_resource_group.qlp.name
  scopes              = [azurerm_postgresql_flexible_server.qlp.id]
  description         = "PostgreSQL storage above 80%"
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  criteria {
    metric_namespace = "Microsoft.DBforPostgreSQL/flexibleServers"
    metric_name      = "storage_percent"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = 80
  }
  action {
    action_group_id = azurerm_monitor_action_group.qlp.id
  }
  tags = var.tags
}

resource "azurerm_monitor_metric_alert" "postgres_cpu" {
  name                = "${var.prefix}-postgres-cpu"
  resource_group_name = azurerm_resource_group.qlp.name
  scopes              = [azurerm_postgresql_flexible_server.qlp.id]
  description         = "PostgreSQL CPU above 80% for 10 minutes"
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  criteria {
    metric_namespace = "Microsoft.DBforPostgreSQL/flexibleServers"
    metric_name      = "cpu_percent"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = 80
  }
  action {
    action_group_id = azurerm_monitor_action_group.qlp.id
  }
  tags = var.tags
}
