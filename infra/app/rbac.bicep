// Every role of the deployment, in one place: which identity gets which role, on what. Least privilege: roles on
// the resource that needs them (queue, storage account, vault, gallery, identity) or on the Image Builder resource
// group; no Owner, no Contributor. Custom roles hold exactly the actions the pipeline and Image Builder use and can
// only be assigned in the pipeline's resource groups, except one read-only role for platform image versions, which
// Azure only serves at subscription scope. Facts and sources: infra/README.md ("Roles").
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

@description('Event Grid topic of the pipeline\'s events.')
param eventGridTopicName string

@description('Subscriptions whose VMs and scale sets may run the images (USAGE_SUBSCRIPTION_IDS): the app reads them through Resource Graph.')
param fleetSubscriptionIds string[]

@description('Principals ({principalId, principalType}) given Reader on the gallery: sharing by RBAC.')
param galleryReaders array = []

@description('Blob container of the catalog in the storage account.')
param catalogContainerName string

@description('Principals ({principalId, principalType}) that may publish the catalog: the deployer, a CI identity.')
param catalogPublishers array = []

@description('Makes the custom role names unique in the tenant (role names must be).')
param roleNameSuffix string

@description('Object id of whoever runs the deployment (azd: AZURE_PRINCIPAL_ID). Empty: no role for the deployer.')
param deployerPrincipalId string = ''

@description('User or ServicePrincipal (azd: AZURE_PRINCIPAL_TYPE); empty lets ARM look it up.')
@allowed(['User', 'ServicePrincipal', ''])
param deployerPrincipalType string = ''

// Built-in roles, by id (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var builtInRoles = {
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419' // Azure Service Bus Data Owner
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830' // Managed Identity Operator
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender
}

var queueConfig = loadJsonContent('../../shared/config/queues.json')

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

// The Function App creates, runs, tags and deletes Image Builder templates in the Image Builder resource group (builds
// distribute straight into the gallery: there are no staging managed images to manage).
resource imageBuilderOperatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, imageBuilderResourceGroupName, 'image-pipeline-image-builder-operator')
  properties: {
    roleName: 'Image pipeline Image Builder operator (${roleNameSuffix})'
    description: 'Lets the image-pipeline Function App manage Image Builder templates.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.VirtualMachineImages/imageTemplates/*'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      imageBuilderResourceGroupId
    ]
  }
}

// What the Image Builder identity needs to distribute a build straight into the gallery (SharedImage distributor):
// the four actions the Image Builder permission docs list for Azure Compute Gallery distribution, on the gallery.
// The staging resource group Image Builder creates per template (IT_..., or a named group that does not exist yet)
// gets its Contributor assignment from Image Builder itself, so no role is needed there.
// A new role (not an edit of the earlier image-creation role, whose scopes still hold assignments in older
// deployments: ARM refuses to drop an assignable scope that has assignments).
resource galleryDistributionRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroupName, 'image-pipeline-gallery-distribution')
  properties: {
    roleName: 'Image pipeline Image Builder gallery distribution (${roleNameSuffix})'
    description: 'Lets Image Builder builds of image-pipeline write image versions into the pipeline gallery.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      pipelineResourceGroupId
    ]
  }
}

// Listing and reading platform (Marketplace) image versions, for sources pinned to `latest`: Azure serves these
// only under /subscriptions/{id}/providers/Microsoft.Compute/locations/..., so the role holds that one read action
// and is assigned at subscription scope, to the Function App identity only.
resource platformImageReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleNameSuffix, 'image-pipeline-platform-image-reader')
  properties: {
    roleName: 'Image pipeline platform image reader (${roleNameSuffix})'
    description: 'Lets the image-pipeline Function App list and read platform image versions, nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource appReadsPlatformImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appIdentity.id, platformImageReaderRole.id)
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: platformImageReaderRole.id
    description: 'Resolve latest platform image versions (nightly rebuild, build sources).'
  }
}

// Where the images run (Resource Graph, shared/adapters/resourceGraph.ts): Resource Graph returns only the resources
// the caller may read, and leaves the others out without a sign. The app reads VMs, scale sets and their instances,
// and the subscriptions themselves (to tell an empty subscription from one it cannot read), on every subscription of
// the fleet: a role of those four reads rather than Reader (every */read). Assignable, and assigned, only there.
resource fleetReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleNameSuffix, 'image-pipeline-fleet-reader')
  properties: {
    roleName: 'Image pipeline fleet reader (${roleNameSuffix})'
    description: 'Lets the image-pipeline Function App see which VMs and scale sets run its images, nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/virtualMachineScaleSets/read'
          'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'
          'Microsoft.Resources/subscriptions/read'
        ]
        notActions: []
      }
    ]
    // The subscription the definition is made in stays assignable too (whether ARM requires it is not documented;
    // the role only reads).
    assignableScopes: union([subscription().id], map(fleetSubscriptionIds, id => '/subscriptions/${id}'))
  }
}

module appReadsFleet '../core/security/subscription-role-assignment.bicep' = [
  for id in fleetSubscriptionIds: {
    name: 'rbac-app-fleet-reader-${uniqueString(id, roleNameSuffix)}'
    scope: subscription(id)
    params: {
      principalId: appIdentity.properties.principalId
      roleDefinitionName: fleetReaderRole.name
      assignmentDescription: 'Read where the images run (Resource Graph) before pruning a version.'
    }
  }
]

// --- Function App identity ---

// Send, receive and settle on the pipeline's queues, with the Manage right that lets the platform read queue lengths:
// Functions scales Service Bus triggers by target (queue length / concurrency) only with Manage, and falls back to
// slower incremental scaling with Listen alone. Data Owner is the built-in role that carries Manage; it is assigned
// on each queue of shared/config/queues.json, not on the namespace.
module appOwnsQueues '../core/security/role-assignment.bicep' = [
  for queue in queueConfig.queues: {
    name: 'rbac-app-servicebus-queue-${queue.name}'
    scope: pipelineResourceGroup
    params: {
      principalId: appIdentity.properties.principalId
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataOwner)
      scopeKind: 'serviceBusQueue'
      scopeName: '${serviceBusNamespaceName}/${queue.name}'
      assignmentDescription: 'Send to, trigger on and scale by the queue ${queue.name}.'
    }
  }
]

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

// Publishing events: EventGrid Data Sender holds Microsoft.EventGrid/events/send/action only; on the topic itself.
module appPublishesEvents '../core/security/role-assignment.bicep' = {
  name: 'rbac-app-eventgrid-data-sender'
  scope: pipelineResourceGroup
  params: {
    principalId: appIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.eventGridDataSender)
    scopeKind: 'eventGridTopic'
    scopeName: eventGridTopicName
    assignmentDescription: 'Publish the pipeline\'s events to its topic.'
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

module builderDistributesToGallery '../core/security/role-assignment.bicep' = {
  name: 'rbac-builder-image-creation-gallery'
  scope: pipelineResourceGroup
  params: {
    principalId: builderIdentity.properties.principalId
    roleDefinitionId: galleryDistributionRole.id
    scopeKind: 'gallery'
    scopeName: galleryName
    assignmentDescription: 'Image Builder distributes builds as gallery image versions.'
  }
}

// --- Whoever deploys ---

// The postprovision hook (infra/hooks/webhook-secret.mjs) creates the webhook secret when it does not exist yet,
// straight from a random value in memory, and rotation writes new versions: both need a data role on the vault.
module deployerWritesSecrets '../core/security/role-assignment.bicep' = if (!empty(deployerPrincipalId)) {
  name: 'rbac-deployer-keyvault-secrets-officer'
  scope: pipelineResourceGroup
  params: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.keyVaultSecretsOfficer)
    scopeKind: 'keyVault'
    scopeName: keyVaultName
    assignmentDescription: 'Create and rotate the webhook secret.'
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
