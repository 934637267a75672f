// One role assignment on a resource group or on one resource in it. Called only from app/rbac.bicep, which lists
// every assignment of the deployment (who, which role, where); this module only knows how to scope it. ARM deploys
// an assignment on a resource group or a resource only from a deployment at that resource group, hence a module.

@description('Object (principal) id that receives the role.')
param principalId string

@description('Type of the principal. Empty: unknown (ARM looks it up), e.g. the deployer outside azd.')
@allowed(['ServicePrincipal', 'User', 'Group', ''])
param principalType string = 'ServicePrincipal'

@description('Resource id of the role definition (built-in or custom).')
param roleDefinitionId string

@description('What the role is assigned on: this resource group, or the resource named scopeName of that kind in it.')
@allowed([
  'resourceGroup'
  'storageAccount'
  'blobContainer'
  'serviceBusNamespace'
  'serviceBusQueue'
  'keyVault'
  'applicationInsights'
  'gallery'
  'userAssignedIdentity'
  'eventGridTopic'
])
param scopeKind string

@description('Name of the resource the role is assigned on (ignored for resourceGroup); a queue is <namespace>/<queue>, a blob container <account>/<container>.')
param scopeName string = ''

// Not named `description`: a parameter of that name would hide the @description decorator.
@description('Why the principal holds this role (shown in the portal).')
param assignmentDescription string = ''

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (scopeKind == 'storageAccount') {
  name: scopeName
}

resource containerAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (scopeKind == 'blobContainer') {
  name: split(scopeName, '/')[0]
}

resource containerBlobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = if (scopeKind == 'blobContainer') {
  parent: containerAccount
  name: 'default'
}

resource blobContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (scopeKind == 'blobContainer') {
  parent: containerBlobServices
  name: last(split(scopeName, '/'))
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = if (scopeKind == 'serviceBusNamespace' || scopeKind == 'serviceBusQueue') {
  name: split(scopeName, '/')[0]
}

resource serviceBusQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = if (scopeKind == 'serviceBusQueue') {
  parent: serviceBusNamespace
  name: last(split(scopeName, '/'))
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (scopeKind == 'keyVault') {
  name: scopeName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = if (scopeKind == 'applicationInsights') {
  name: scopeName
}

resource gallery 'Microsoft.Compute/galleries@2024-03-03' existing = if (scopeKind == 'gallery') {
  name: scopeName
}

resource userAssignedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = if (scopeKind == 'userAssignedIdentity') {
  name: scopeName
}

resource eventGridTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (scopeKind == 'eventGridTopic') {
  name: scopeName
}

var assignment = {
  principalId: principalId
  principalType: empty(principalType) ? null : principalType
  roleDefinitionId: roleDefinitionId
  description: assignmentDescription
}

resource onResourceGroup 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'resourceGroup') {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: assignment
}

resource onStorageAccount 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'storageAccount') {
  name: guid(storageAccount.id, principalId, roleDefinitionId)
  scope: storageAccount
  properties: assignment
}

resource onBlobContainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'blobContainer') {
  name: guid(blobContainer.id, principalId, roleDefinitionId)
  scope: blobContainer
  properties: assignment
}

resource onServiceBusNamespace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'serviceBusNamespace') {
  name: guid(serviceBusNamespace.id, principalId, roleDefinitionId)
  scope: serviceBusNamespace
  properties: assignment
}

resource onServiceBusQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'serviceBusQueue') {
  name: guid(serviceBusQueue.id, principalId, roleDefinitionId)
  scope: serviceBusQueue
  properties: assignment
}

resource onKeyVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'keyVault') {
  name: guid(keyVault.id, principalId, roleDefinitionId)
  scope: keyVault
  properties: assignment
}

resource onApplicationInsights 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'applicationInsights') {
  name: guid(applicationInsights.id, principalId, roleDefinitionId)
  scope: applicationInsights
  properties: assignment
}

resource onGallery 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'gallery') {
  name: guid(gallery.id, principalId, roleDefinitionId)
  scope: gallery
  properties: assignment
}

resource onUserAssignedIdentity 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'userAssignedIdentity') {
  name: guid(userAssignedIdentity.id, principalId, roleDefinitionId)
  scope: userAssignedIdentity
  properties: assignment
}

resource onEventGridTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (scopeKind == 'eventGridTopic') {
  name: guid(eventGridTopic.id, principalId, roleDefinitionId)
  scope: eventGridTopic
  properties: assignment
}
