// Every role of the deployment, in one place: which identity gets which role, on what. Least privilege: roles on
// the resource that needs them (namespace, storage account, vault, gallery, identity) or on the Image Builder
// resource group, never on the subscription; no Owner, no Contributor. Custom roles hold exactly the actions the
// pipeline and Image Builder use and can only be assigned in the pipeline's two resource groups.
// test/infra/consistency.test.ts checks each assignment against this file.

targetScope = 'subscription'

@description('Resource group of the pipeline (Function App, Service Bus, Key Vault, storage, monitoring, identities, gallery).')
param resourceGroupName string

@description('Resource group of Image Builder templates and staging managed images.')
param imageBuilderResourceGroupName string

param appIdentityName string
param builderIdentityName string
param storageAccountName string
param serviceBusNamespaceName string
param keyVaultName string
param applicationInsightsName string
param galleryName string

@description('Principals ({principalId, principalType}) given Reader on the gallery: sharing by RBAC.')
param galleryReaders array = []

@description('Blob container of the catalog in the storage account.')
param catalogContainerName string

@description('Principals ({principalId, principalType}) that may publish the catalog: the deployer, a CI identity.')
param catalogPublishers array = []

@description('Makes the custom role names unique in the tenant (role names must be).')
param roleNameSuffix string

// Built-in roles, by id (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var builtInRoles = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830' // Managed Identity Operator
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
}

var pipelineResourceGroupId = '${subscription().id}/resourceGroups/${resourceGroupName}'
var imageBuilderResourceGroupId = '${subscription().id}/resourceGroups/${imageBuilderResourceGroupName}'

resource pipelineResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' existing = {
  name: resourceGroupName
}

resource imageBuilderResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' existing = {
  name: imageBuilderResourceGroupName
}

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  scope: pipelineResourceGroup
  name: appIdentityName
}

resource builderIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  scope: pipelineResourceGroup
  name: builderIdentityName
}

// The Function App manages image definitions and versions in the gallery (create, update excludeFromLatest,
// delete at end of life). Assigned on the gallery itself.
resource galleryOperatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroupName, 'image-pipeline-gallery-operator')
  properties: {
    roleName: 'Image pipeline gallery operator (${roleNameSuffix})'
    description: 'Lets the image-pipeline Function App manage image definitions and versions of its gallery.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/*'
          'Microsoft.Compute/galleries/images/versions/*'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      pipelineResourceGroupId
    ]
  }
}

// The Function App creates, runs and deletes Image Builder templates, and reads and deletes the staging managed
// images they produce, in the Image Builder resource group.
resource imageBuilderOperatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, imageBuilderResourceGroupName, 'image-pipeline-image-builder-operator')
  properties: {
    roleName: 'Image pipeline Image Builder operator (${roleNameSuffix})'
    description: 'Lets the image-pipeline Function App manage Image Builder templates and staging images.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.VirtualMachineImages/imageTemplates/*'
          'Microsoft.Compute/images/read'
          'Microsoft.Compute/images/delete'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      imageBuilderResourceGroupId
    ]
  }
}

// What the Image Builder identity needs to distribute a build, as the Image Builder permission docs list it:
// managed images in the Image Builder resource group, image versions in the gallery's resource group.
resource imageCreationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroupName, imageBuilderResourceGroupName, 'image-pipeline-image-creation')
  properties: {
    roleName: 'Image pipeline Image Builder image creation (${roleNameSuffix})'
    description: 'Lets Image Builder builds of image-pipeline write managed images and gallery image versions.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
          'Microsoft.Compute/images/write'
          'Microsoft.Compute/images/read'
          'Microsoft.Compute/images/delete'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      pipelineResourceGroupId
      imageBuilderResourceGroupId
    ]
  }
}

// --- Function App identity ---

module appSendsMessages '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-servicebus-sender'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataSender)
    scopeKind: 'serviceBusNamespace'
    scopeName: serviceBusNamespaceName
    assignmentDescription: 'Functions send to the pipeline queues.'
  }
}

module appReceivesMessages '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-servicebus-receiver'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataReceiver)
    scopeKind: 'serviceBusNamespace'
    scopeName: serviceBusNamespaceName
    assignmentDescription: 'Service Bus triggers receive from the pipeline queues.'
  }
}

// Host storage (timer locks, keys) and the deployment package container. HTTP, timer and Service Bus triggers
// use blobs only; queue and table roles would be needed only for blob triggers or Durable Functions.
module appOwnsHostStorage '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-storage-blob-owner'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataOwner)
    scopeKind: 'storageAccount'
    scopeName: storageAccountName
    assignmentDescription: 'Functions host storage and deployment package.'
  }
}

// The catalog blob (CATALOG_BLOB_URL): read only, on its container. (The host's Storage Blob Data Owner above covers
// the whole account, as AzureWebJobsStorage needs; this assignment states what the app's own code needs.)
module appReadsCatalog '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-catalog-reader'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataReader)
    scopeKind: 'blobContainer'
    scopeName: '${storageAccountName}/${catalogContainerName}'
    assignmentDescription: 'Read the published image catalog.'
  }
}

module appReadsSecrets '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-keyvault-secrets-user'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.keyVaultSecretsUser)
    scopeKind: 'keyVault'
    scopeName: keyVaultName
    assignmentDescription: 'Key Vault references in app settings (webhook secret).'
  }
}

module appPublishesTelemetry '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-monitoring-publisher'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.monitoringMetricsPublisher)
    scopeKind: 'applicationInsights'
    scopeName: applicationInsightsName
    assignmentDescription: 'Telemetry with Entra ID auth (local auth is disabled).'
  }
}

module appOperatesGallery '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-gallery-operator'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: galleryOperatorRole.id
    scopeKind: 'gallery'
    scopeName: galleryName
    assignmentDescription: 'Publish, promote and prune image versions.'
  }
}

module appOperatesImageBuilder '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-image-builder-operator'
  scope: imageBuilderResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: imageBuilderOperatorRole.id
    scopeKind: 'resourceGroup'
    assignmentDescription: 'Create, run and delete Image Builder templates; clean up staging images.'
  }
}

// Putting the builder identity on a template needs .../userAssignedIdentities/assign/action on that identity.
module appAssignsBuilderIdentity '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-assigns-builder-identity'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.managedIdentityOperator)
    scopeKind: 'userAssignedIdentity'
    scopeName: builderIdentityName
    assignmentDescription: 'Assign the Image Builder identity to templates.'
  }
}

// --- Image Builder identity ---

module builderWritesGalleryVersions '../core/security/role-assignment.bicep' = {
  name: 'rbac-builder-image-creation-gallery'
  scope: pipelineResourceGroup
  params: {
    principalId: builderIdentity.properties.principalId
    roleDefinitionId: imageCreationRole.id
    scopeKind: 'resourceGroup'
    assignmentDescription: 'Image Builder distributes builds as gallery image versions.'
  }
}

module builderWritesStagingImages '../core/security/role-assignment.bicep' = {
  name: 'rbac-builder-image-creation-staging'
  scope: imageBuilderResourceGroup
  params: {
    principalId: builderIdentity.properties.principalId
    roleDefinitionId: imageCreationRole.id
    scopeKind: 'resourceGroup'
    assignmentDescription: 'Image Builder writes staging managed images.'
  }
}

// --- Catalog publishers (image-pipeline catalog publish): write on the catalog container only ---

module catalogPublisherAssignments '../core/security/role-assignment.bicep' = [
  for publisher in catalogPublishers: {
    name: 'rbac-catalog-publisher-${uniqueString(publisher.principalId)}'
    scope: pipelineResourceGroup
    params: {
      principalId: publisher.principalId
      principalType: publisher.principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataContributor)
      scopeKind: 'blobContainer'
      scopeName: '${storageAccountName}/${catalogContainerName}'
      assignmentDescription: 'Publish the image catalog.'
    }
  }
]

// --- Sharing (Compute Gallery docs, "Share using RBAC") ---

module galleryReaderAssignments '../core/security/role-assignment.bicep' = [
  for reader in galleryReaders: {
    name: 'rbac-gallery-reader-${uniqueString(reader.principalId)}'
    scope: pipelineResourceGroup
    params: {
      principalId: reader.principalId
      principalType: reader.principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.reader)
      scopeKind: 'gallery'
      scopeName: galleryName
      assignmentDescription: 'Gallery shared by RBAC.'
    }
  }
]
