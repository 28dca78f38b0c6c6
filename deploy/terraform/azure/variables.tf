variable "subscription_id" {
  description = "Azure subscription to deploy into."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "uksouth"
}

variable "prefix" {
  description = "Prefix of every resource name (letters and digits; storage and registry names allow no dashes)."
  type        = string
  default     = "qlp"
}

variable "resource_group_name" {
  type    = string
  default = "qlp-production"
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version; null takes the region's default."
  type        = string
  default     = null
}

variable "node_vm_size" {
  description = "VM size of the AKS nodes (the strategy: Standard_D2s_v3, 2 vCPU, 8 GB)."
  type        = string
  default     = "Standard_D2s_v3"
}

variable "app_node_count" {
  description = "Nodes the application pool starts with."
  type        = number
  default     = 2
}

variable "app_node_min" {
  description = "Fewest nodes of the application pool (0 scales it to nothing off-hours)."
  type        = number
  default     = 0
}

variable "app_node_max" {
  type    = number
  default = 4
}

variable "postgres_sku" {
  description = "PostgreSQL Flexible Server SKU (the strategy: 2 vCores, burstable)."
  type        = string
  default     = "B_Standard_B2s"
}

variable "postgres_storage_mb" {
  type    = number
  default = 32768
}

variable "postgres_backup_retention_days" {
  description = "Daily automated backups are kept this many days; point-in-time restore covers the strategy's 1-hour RPO."
  type        = number
  default     = 14
}

variable "redis_sku" {
  description = "Azure Cache for Redis: the strategy's Basic C0."
  type = object({
    name     = string
    family   = string
    capacity = number
  })
  default = {
    name     = "Basic"
    family   = "C"
    capacity = 0
  }
}

variable "alert_email" {
  description = "Where Azure Monitor sends the infrastructure alerts."
  type        = string
}

variable "tags" {
  type = map(string)
  default = {
    project     = "qlp"
    environment = "production"
  }
}
